// The worker's workflow bundle entry point: every workflow type the service runs.
export { permitWorkflow } from './permit.js';
export { exampleConsumerWorkflow } from './example-consumer.js';
