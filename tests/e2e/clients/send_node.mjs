// Sends every call type with @segment/analytics-node to HAINA_URL, then flushes.
// Used by tests/e2e/test_analytics_node.py; prints "ok" or the error.
import { Analytics } from "@segment/analytics-node";

const analytics = new Analytics({
  writeKey: process.env.HAINA_WRITE_KEY,
  host: process.env.HAINA_URL,
  flushAt: 20,
  maxRetries: 1,
});
let failed = null;
analytics.on("error", (err) => { failed = err; });
analytics.identify({ userId: "node-1", traits: { email: "node@example.cn", plan: "pro" },
                     messageId: "node-identify" });
analytics.track({ userId: "node-1", event: "Invoice Paid", properties: { amount: 99.5 },
                  messageId: "node-track" });
analytics.page({ userId: "node-1", name: "Pricing", properties: { url: "https://example.cn/pricing" },
                 messageId: "node-page" });
analytics.screen({ userId: "node-1", name: "Home", messageId: "node-screen" });
analytics.group({ userId: "node-1", groupId: "acme", traits: { name: "Acme" }, messageId: "node-group" });
analytics.alias({ userId: "node-1", previousId: "node-anon", messageId: "node-alias" });
await analytics.closeAndFlush({ timeout: 10000 });
console.log(failed ? `error: ${failed.reason ?? failed.message ?? failed}` : "ok");
