// Sends calls through an unmodified server-side SDK, as its documentation configures it, and
// prints what it sent. Driven by tests/integration/sdk/test_js_sdks.py.
//
//   node send_node.mjs '{"sdk": "segment"|"rudder", "url": ..., "writeKey": ...,
//                        "calls": [{"method": "identify", "args": {...}}, ...]}'
//
// Prints one JSON line: {"sent": [the messages as the SDK built them], "errors": [...]}.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const plan = JSON.parse(process.argv[2])
const sent = []
const errors = []

function segmentClient() {
  const { Analytics } = require('@segment/analytics-node')
  const client = new Analytics({
    writeKey: plan.writeKey,
    host: plan.url,
    maxRetries: 0,
    flushAt: 100,
    flushInterval: 200,
  })
  client.on('error', (error) => errors.push(String(error?.reason ?? error)))
  return {
    // The SDK's callback gets the call's context: its event is what was sent.
    call: (method, args) =>
      new Promise((resolve) =>
        client[method](args, (error, ctx) => {
          if (error) errors.push(`${method}: ${error.reason ?? error}`)
          if (ctx) sent.push(ctx.event)
          resolve()
        })
      ),
    close: () => client.closeAndFlush({ timeout: 10000 }),
  }
}

function rudderClient() {
  const Analytics = require('@rudderstack/rudder-sdk-node')
  const client = new Analytics(plan.writeKey, {
    dataPlaneUrl: plan.url,
    flushAt: 100,
    flushInterval: 200,
    retryCount: 0,
    logLevel: 'error',
    // Its documented hook sees each event as it will be sent, message id included.
    beforeEnqueue: (event) => {
      sent.push(event)
      return event
    },
  })
  const pending = []
  return {
    call: (method, args) => {
      pending.push(
        new Promise((resolve) =>
          client[method](args, (error) => {
            if (error) errors.push(`${method}: ${error.message ?? error}`)
            resolve()
          })
        )
      )
    },
    close: async () => {
      await client.flush()
      await Promise.all(pending)
    },
  }
}

const client = plan.sdk === 'segment' ? segmentClient() : rudderClient()
const calls = plan.calls.map(({ method, args }) => client.call(method, args))
await client.close()
await Promise.all(calls)
process.stdout.write(JSON.stringify({ sent, errors }) + '\n')
