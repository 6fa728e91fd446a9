import { Global, Module } from '@nestjs/common';
import { AuthService } from './auth.service.js';

/**
 * Opt-in JWT authentication. Global so the gateway can use `AuthService`; the two
 * guards (`IdentifyGuard`, `AuthorizeGuard`) are on every `/api/v1` controller
 * (`ApiController`), around the throttler: identify → throttle → authorize.
 */
@Global()
@Module({
  providers: [AuthService],
  exports: [AuthService],
})
export class AuthModule {}
