/**
 * Errors as the OpenAI API and vLLM send them: `{"error": {"message", "type", "param", "code"}}`, where vLLM's `type`
 * names the HTTP status (BadRequestError, NotFoundError, ...) and `code` is the status number. Handlers throw
 * `ApiError`; anything else a handler throws becomes a 500 with its message, never a crashed server.
 */
const TYPES: Record<number, string> = {
  400: 'BadRequestError',
  404: 'NotFoundError',
  405: 'MethodNotAllowed',
  409: 'ConflictError',
  413: 'RequestEntityTooLarge',
  422: 'UnprocessableEntityError',
  500: 'InternalServerError',
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    /** vLLM's own type where it differs from the status's (InvalidUserInput for the LoRA endpoints). */
    readonly type = TYPES[status] ?? 'Error',
  ) {
    super(message);
  }
}

export const badRequest = (message: string, param: string | null = null) => new ApiError(400, message, param);

/** vLLM's answer for a model name it does not serve. */
export const unknownModel = (name: string) => new ApiError(404, `The model \`${name}\` does not exist.`, 'model');

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: number };
}

export function errorBody(err: ApiError): ErrorBody {
  return { error: { message: err.message, type: err.type, param: err.param, code: err.status } };
}

/** Any thrown value as an ApiError: an ApiError as it is, anything else a 500 with its message. */
export function asApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError(500, err instanceof Error ? err.message : String(err));
}
