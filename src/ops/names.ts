// Shared input schemas.
import { z } from 'zod';

export const Name = z
  .string()
  .trim()
  .min(1, 'a name cannot be empty')
  .max(200, 'a name is at most 200 characters')
  .refine((s) => !/[\u0000-\u001f]/.test(s), 'a name cannot contain control characters');
