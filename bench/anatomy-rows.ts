// The anatomy phase's rows: per variant, the CPU one cycle cost the server and the service, and the
// server's persistence requests (writes and reads) and API calls per cycle.
import { type Row } from './report.js';
import type { Anatomy, AnatomyResult } from './scenarios/anatomy.js';
import { isWrite } from './server-metrics.js';

const perCycle = (total: number, cycles: number) => total / cycles;
const sum = (counts: Record<string, number>, keep: (operation: string) => boolean = () => true) =>
  Object.entries(counts).reduce((total, [operation, count]) => (keep(operation) ? total + count : total), 0);
const figure = (value: number) => (value >= 10 ? value.toFixed(0) : value.toFixed(value >= 1 ? 1 : 2));

/** "CreateWorkflowExecution 1.0, UpdateWorkflowExecution 1.0" for the operations that happened at least once per 20 cycles. */
export function perCycleList(counts: Record<string, number>, cycles: number, keep: (operation: string) => boolean = () => true): string {
  return Object.entries(counts)
    .filter(([operation, count]) => keep(operation) && count / cycles >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([operation, count]) => `${operation} ${figure(count / cycles)}`)
    .join(', ');
}

function cpuText(result: AnatomyResult): string {
  const ms = (name: string) => {
    const value = result.cpuMs[name];
    return value === undefined ? '?' : figure(perCycle(value, result.cycles));
  };
  return `server ${ms('server')}, service ${ms(result.service)} ms CPU`;
}

/** One row per variant. */
export function anatomyRows(anatomy: Anatomy): Row[] {
  return anatomy.variants.map((result) => {
    const writes = perCycle(sum(result.persistence, isWrite), result.cycles);
    const reads = perCycle(sum(result.persistence, (operation) => !isWrite(operation)), result.cycles);
    const tasks = perCycle(result.apiCalls.RespondWorkflowTaskCompleted ?? 0, result.cycles);
    return {
      scenario: "one grant's cost to Temporal, per cycle",
      system: result.label,
      throughput: `${cpuText(result)}; ${figure(writes)} writes, ${figure(reads)} reads; ${figure(tasks)} workflow tasks`,
    };
  });
}

/** Every variant's persistence writes and API calls by operation. */
export function anatomyNotes(anatomy: Anatomy): string[] {
  const idle = anatomy.idleServerMsPerSecond;
  return [
    `anatomy: the server's CPU is counted from the first cycle until it had published their counters (its idle use, ` +
      `${idle === undefined ? '?' : idle.toFixed(1)} ms/s, taken off); persistence requests and API calls are the server's own counters`,
    ...anatomy.variants.map(
      (result) =>
        `anatomy, ${result.label}: writes per cycle ${perCycleList(result.persistence, result.cycles, isWrite) || 'none'}; ` +
        `reads per cycle ${perCycleList(result.persistence, result.cycles, (operation) => !isWrite(operation)) || 'none'}; ` +
        `API calls per cycle ${perCycleList(result.apiCalls, result.cycles) || 'none'}`,
    ),
  ];
}
