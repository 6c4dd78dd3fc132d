import { z } from 'zod';
import { RESOURCE_NAME_PATTERN } from '../temporal/permit-id.js';

export const ResourceNameSchema = z
  .string()
  .regex(
    RESOURCE_NAME_PATTERN,
    'must be 1-128 characters of letters, digits, ".", "_" and "-", starting with a letter or digit',
  );
