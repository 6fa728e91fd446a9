import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { MetricsService } from './metrics.service.js';

@ApiTags('health')
// Outside /api/v1: no rate limit, no token (the API's guards are on `ApiController`s only).
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  @ApiOperation({ summary: 'Prometheus metrics (text exposition format); not rate limited' })
  @ApiProduces('text/plain')
  @ApiOkResponse({
    content: {
      'text/plain': {
        example:
          '# HELP parley_ws_connections Open WebSocket connections on this instance\n' +
          '# TYPE parley_ws_connections gauge\nparley_ws_connections 42\n' +
          'parley_messages_stored_total{transport="ws"} 1234\n',
      },
    },
  })
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
