import { Controller, Get, HttpCode } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { DomainError } from '../common/errors/domain-error.js';
import { StorageHealthIndicator } from './storage.health.js';

@ApiTags('health')
// Outside /api/v1: no rate limit, no token (the API's guards are on `ApiController`s only).
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly storage: StorageHealthIndicator,
  ) {}

  @Get()
  @HttpCode(200)
  @ApiOperation({ summary: 'Liveness: the process serves requests' })
  @ApiOkResponse({ schema: { example: { status: 'ok' } } })
  live(): { status: string } {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ summary: 'Readiness: 200 when storage answers, 503 otherwise' })
  @ApiOkResponse({
    schema: { example: { status: 'ok', info: { storage: { status: 'up', store: 'redis' } }, error: {}, details: {} } },
  })
  @ApiServiceUnavailableResponse({ schema: { example: { detail: 'Storage unavailable' } } })
  async ready(): Promise<HealthCheckResult> {
    try {
      return await this.health.check([() => this.storage.check()]);
    } catch {
      // Terminus' 503 carries its own body; every error here is `{"detail"}`.
      throw DomainError.storageUnavailable();
    }
  }
}
