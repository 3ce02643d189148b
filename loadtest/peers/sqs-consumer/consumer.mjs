// Peer: bbc/sqs-consumer on the benchmark queue, doing the same no-op work
// as jobfleet's diag.noop (parse the envelope, do nothing, acknowledge).
//
//   node consumer.mjs message|batch <queue-url> <out.json>
//
// Settings are the library's documented ones: `message` is the default
// per-message mode (handleMessage, batchSize 1); `batch` is handleMessageBatch
// with batchSize 10 (the SQS maximum). Both return what they handled, which
// is how the library is told to delete it. Long polling (waitTimeSeconds 20)
// and everything else are library defaults.
//
// The only extra work is the measurement: per job, the wall time at handler
// start minus the envelope's created_at, kept in memory and written to
// <out.json> on SIGTERM.
import { writeFileSync } from "node:fs";
import { SQSClient } from "@aws-sdk/client-sqs";
import { Consumer } from "sqs-consumer";

const [mode, queueUrl, outFile] = process.argv.slice(2);
if (!["message", "batch"].includes(mode) || !queueUrl || !outFile) {
  console.error("usage: consumer.mjs message|batch <queue-url> <out.json>");
  process.exit(2);
}

const latencies = [];
let lastStartMs = 0;

// RFC 3339 with sub-millisecond digits, parsed to fractional epoch ms.
function epochMs(rfc3339) {
  const dot = rfc3339.indexOf(".", 19);
  if (dot < 0) return Date.parse(rfc3339);
  let end = dot + 1;
  while (end < rfc3339.length && rfc3339.charCodeAt(end) >= 48 && rfc3339.charCodeAt(end) <= 57) end++;
  return Date.parse(rfc3339.slice(0, 19) + rfc3339.slice(end)) + Number(`0${rfc3339.slice(dot, end)}`) * 1000;
}

function noop(message) {
  const now = performance.timeOrigin + performance.now();
  const envelope = JSON.parse(message.Body);
  latencies.push(now - epochMs(envelope.created_at));
  lastStartMs = now;
}

const options = { queueUrl, sqs: new SQSClient({}) };
if (mode === "message") {
  options.handleMessage = async (message) => {
    noop(message);
    return message;
  };
} else {
  options.batchSize = 10;
  options.handleMessageBatch = async (messages) => {
    for (const message of messages) noop(message);
    return messages;
  };
}

const consumer = Consumer.create(options);
consumer.on("error", (err) => console.error(`error: ${err.message}`));
consumer.on("processing_error", (err) => console.error(`processing_error: ${err.message}`));
consumer.start();
console.log(`sqs-consumer (${mode}) polling ${queueUrl}`);

process.on("SIGTERM", () => {
  consumer.stop();
  writeFileSync(outFile, JSON.stringify({ count: latencies.length, last_start_ms: lastStartMs, latencies_ms: latencies }));
  process.exit(0);
});
