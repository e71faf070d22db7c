// Preloaded into a benchmarked server (`node --import bench/lib/eld-probe.mjs …`): measures the
// server's own event-loop delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution) and answers it
// on LATCHKEY_BENCH_ELD_PORT (GET /reset, GET /). Plain JS, so it loads into any checkout's build.
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const histogram = monitorEventLoopDelay({ resolution: 1 });
histogram.enable();
const ms = (ns) => ns / 1e6;
createServer((req, res) => {
  if (req.url === '/reset') histogram.reset();
  res.setHeader('content-type', 'application/json');
  res.end(
    JSON.stringify({
      p50: ms(histogram.percentile(50)),
      p99: ms(histogram.percentile(99)),
      max: ms(histogram.max),
      mean: ms(histogram.mean),
      samples: histogram.count,
    }),
  );
})
  .listen(Number(process.env.LATCHKEY_BENCH_ELD_PORT), '127.0.0.1')
  .unref();
