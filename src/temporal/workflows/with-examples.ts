// The bundle entry point of `npm run demo` and the tests: the service's workflows plus the example
// consumer, which the production worker does not carry.
export * from './index.js';
export { exampleConsumerWorkflow } from './example-consumer.js';
