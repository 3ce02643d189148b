// The benchmarks' SQS endpoint: fauxqs's app on 127.0.0.1 only, no request
// logging, plus one read-only route that reports how many SQS requests it
// has served, by operation and queue. Those counts are the emulator-side
// "SQS requests per job" figure (harness queue inspection uses fauxqs's own
// GET /_fauxqs/queues/:name, which is not an SQS request and is not counted).
//
//   node server.mjs <port>
import { buildApp } from "fauxqs";

const port = Number(process.argv[2] ?? process.env.FAUXQS_PORT ?? 4599);
const app = buildApp({ logger: false });

// "<operation>\t<queue name>" -> count
const counts = new Map();
app.addHook("preHandler", (request, _reply, done) => {
  const target = request.headers["x-amz-target"];
  if (typeof target === "string") {
    const op = target.slice(target.indexOf(".") + 1);
    const url = request.body && typeof request.body === "object" ? request.body.QueueUrl : undefined;
    const queue = typeof url === "string" ? url.slice(url.lastIndexOf("/") + 1) : "-";
    const key = `${op}\t${queue}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  done();
});
app.get("/_loadtest/requests", async () =>
  [...counts].map(([key, n]) => {
    const [operation, queue] = key.split("\t");
    return { operation, queue, count: n };
  }),
);

await app.listen({ port, host: "127.0.0.1" });
process.stdout.write(`fauxqs listening on 127.0.0.1:${port}\n`);
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    app.close().then(() => process.exit(0));
  });
}
