/**
 * Failures of management operations (CLI, admin API), with the HTTP status and error code the admin API answers
 * with. The CLI prints the message.
 */
export class ServiceError extends Error {
  override name = 'ServiceError';
  constructor(
    readonly status: number,
    readonly code: 'invalid_request' | 'not_found' | 'conflict' | 'unauthorized',
    message: string,
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new ServiceError(404, 'not_found', `${what} not found`);
export const conflict = (message: string) => new ServiceError(409, 'conflict', message);
export const badRequest = (message: string) => new ServiceError(400, 'invalid_request', message);
