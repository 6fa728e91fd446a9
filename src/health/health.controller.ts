import { Controller, Get, HttpCode, Inject, Optional, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import { REDIS, type RedisClient } from '../storage/storage.tokens.js';

@ApiTags('health')
@SkipThrottle()
@Controller('health')
export class HealthController {
  constructor(@Optional() @Inject(REDIS) private readonly redis: RedisClient | null) {}

  @Get()
  @HttpCode(200)
  @ApiOperation({ summary: 'Liveness' })
  @ApiOkResponse({ schema: { example: { status: 'ok' } } })
  live(): { status: string } {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: 200 when storage answers, 503 otherwise' })
  @ApiOkResponse({ schema: { example: { status: 'ok' } } })
  @ApiServiceUnavailableResponse({ schema: { example: { detail: 'Storage unavailable' } } })
  async ready(): Promise<{ status: string }> {
    if (this.redis) {
      const ok = await this.redis.ping().then(
        () => true,
        () => false,
      );
      if (!ok) throw new ServiceUnavailableException('Storage unavailable');
    }
    return { status: 'ok' };
  }
}
