/**
 * Links into the Temporal Web UI: the embedded dev server's UI, or the one TEMPORAL_UI_URL names.
 * Without either there is no link.
 */
export class TemporalUiLinks {
  private readonly base: string | undefined;

  constructor(
    uiUrl: string | undefined,
    readonly namespace: string,
  ) {
    this.base = uiUrl?.replace(/\/+$/, '');
  }

  /** The list of the namespace's workflows, the prefix of every run link; undefined without a UI. */
  workflowsUrl(): string | undefined {
    return this.base && `${this.base}/namespaces/${encodeURIComponent(this.namespace)}/workflows`;
  }

  /** One run's page; undefined without a UI. */
  run(workflowId: string, runId: string): string | undefined {
    const workflows = this.workflowsUrl();
    return workflows && `${workflows}/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}`;
  }
}
