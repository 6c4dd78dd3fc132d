// The production worker's workflow bundle entry point: only the workflows the service itself runs.
export { permitWorkflow } from './permit.js';
