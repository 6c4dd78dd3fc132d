import type { z } from 'zod';
import type {
  ErrorSchema,
  HeldPermitSchema,
  HistoryEntrySchema,
  HistoryPageSchema,
  PermitSchema,
  ResourceListSchema,
  ResourceViewSchema,
} from '../wire/schemas.js';

// The client's types are the server's zod schemas, so a change to the API changes both sides at once.

/** A granted permit as acquire returns it; `fencingToken` equals `runId`, `fencingSeq` grows with every grant of its slot. */
export type Permit = z.infer<typeof PermitSchema>;

/** A permit that renew or status confirmed as held right now. */
export type HeldPermit = z.infer<typeof HeldPermitSchema>;

/** The permits held on a resource. */
export type ResourceView = z.infer<typeof ResourceViewSchema>;

/** The body of every error answer. */
export type ErrorBody = z.infer<typeof ErrorSchema>;

/** Every error code the service answers with. */
export type ErrorCode = ErrorBody['error'];

/** How an ended permit ended. */
export type PermitEndState = NonNullable<ErrorBody['state']>;

/** One past permit of a resource. */
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;

/** A page of a resource's past permits, newest first. */
export type HistoryPage = z.infer<typeof HistoryPageSchema>;

/** A page of the resources that have holders now. */
export type ResourceList = z.infer<typeof ResourceListSchema>;
