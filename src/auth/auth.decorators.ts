import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ErrorDto } from '../common/dto/error.dto.js';

/** What a route needs beyond a valid token (read by `AuthorizeGuard`). */
export interface AuthRule {
  /** The token must carry `"admin": true`. */
  admin?: boolean;
  /** The JSON body field naming the acting user; when it is a string it must equal `sub`. */
  actsAsBodyField?: string;
}

export const AUTH_RULE = 'parley:auth-rule';

const unauthorized = ApiResponse({
  status: 401,
  description: 'Missing, malformed, badly signed or expired bearer token (only with authentication on); `WWW-Authenticate: Bearer` is set',
  type: ErrorDto,
  example: { detail: 'Token expired' },
});

function forbiddenDoc(description: string, detail: string) {
  return ApiResponse({ status: 403, description, type: ErrorDto, example: { detail } });
}

/** Documents the 401 every API route answers when authentication is on (next to `@ApiBearerAuth()`). */
export function ApiAuthErrors() {
  return applyDecorators(unauthorized);
}

/** The route needs a token with `"admin": true` (403 otherwise). */
export function RequireAdmin() {
  return applyDecorators(
    SetMetadata(AUTH_RULE, { admin: true } satisfies AuthRule),
    forbiddenDoc('The token has no `"admin": true` claim (only with authentication on)', 'Creating users requires an admin token'),
  );
}

/** The body's `field` names the user the request acts as: it must be the token's `sub` (403 otherwise). */
export function ActsAsUser(field: string) {
  return applyDecorators(
    SetMetadata(AUTH_RULE, { actsAsBodyField: field } satisfies AuthRule),
    forbiddenDoc(
      `\`${field}\` is not the token's \`sub\` (only with authentication on)`,
      'Token subject does not match user_id',
    ),
  );
}
