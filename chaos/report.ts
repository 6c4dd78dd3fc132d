// The chaos run's table: the judgements, the grants, and what each kind of fault did to availability.
import type { ResourcePlan } from './clients.js';
import type { FaultImpact, Judgement } from './judge.js';
import type { LookupSummary } from './lookup-stats.js';

export interface ChaosResults {
  topology: string;
  startedAt: string;
  durationSec: number;
  seed: number;
  source: { commit: string; dirty: boolean };
  plans: ResourcePlan[];
  grants: Record<string, number>;
  requests: number;
  impacts: FaultImpact[];
  judgements: Judgement[];
  lookups: LookupSummary;
  passed: boolean;
}

const seconds = (ms: number | undefined) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(1)} s`);
const millis = (ms: number | undefined) => (ms === undefined ? '—' : `${Math.round(ms)} ms`);

/** Markdown: a heading line, the judgements, the resources, the faults, the visibility lookups. */
export function renderReport(results: ChaosResults): string {
  const lines: string[] = [];
  lines.push(
    `Chaos run on the ${results.topology} topology: ${results.durationSec} s, seed ${results.seed}, commit ${results.source.commit}` +
      `${results.source.dirty ? ' (with uncommitted changes)' : ''}, started ${results.startedAt}; ${results.requests} requests. ` +
      `**${results.passed ? 'PASSED' : 'FAILED'}**`,
    '',
    '| judgement | result | detail |',
    '| --- | --- | --- |',
  );
  for (const judgement of results.judgements) {
    lines.push(`| ${judgement.name} | ${judgement.passed ? 'pass' : '**VIOLATED**'} | ${judgement.detail} |`);
  }
  lines.push('', '| resource | capacity | clients | lease | grants |', '| --- | --- | --- | --- | --- |');
  for (const plan of results.plans) {
    const lease = `${plan.leaseMs / 1000} s${plan.renewEveryMs ? `, renewed every ${plan.renewEveryMs / 1000} s for ${plan.holdMs[0] / 1000}-${plan.holdMs[1] / 1000} s` : ''}`;
    lines.push(`| ${plan.resource} | ${plan.capacity} | ${plan.clients} | ${lease} | ${results.grants[plan.resource] ?? 0} |`);
  }
  lines.push(
    '',
    '| fault | injected | seconds with a 503 after it | longest unavailability after it | the longest followed a fault on |',
    '| --- | --- | --- | --- | --- |',
  );
  for (const impact of results.impacts) {
    lines.push(`| ${impact.kind} | ${impact.count} | ${impact.seconds503} | ${seconds(impact.longestUnavailableMs)} | ${impact.worstTarget ?? '—'} |`);
  }
  const { lookups } = results;
  const after = lookups.afterTemporalRestart;
  lines.push(
    '',
    `Visibility lookups (a runId the replica did not grant): ${lookups.lookups}, mean ${millis(lookups.meanMs)}, ` +
      `each within ${millis(lookups.slowestAtMostMs)}, ${lookups.failed} cut off at VISIBILITY_LOOKUP_WAIT_MS. ` +
      (after.anyReplica
        ? 'Releases and renewals through the load balancer (any replica), within 30 s after a Temporal restart: '
        : 'Releases and renewals through a replica that had not granted the permit, within 30 s after a Temporal restart: ') +
      `${after.requests}, p50 ${millis(after.p50Ms)}, slowest ${millis(after.maxMs)}, ${after.answered503} answered 503.`,
  );
  for (const judgement of results.judgements.filter((item) => !item.passed)) {
    lines.push('', `${judgement.name}:`, ...judgement.violations.map((violation) => `- ${violation}`));
  }
  return `${lines.join('\n')}\n`;
}
