// What a webhook URL may be: http(s), no credentials in it, and not an internal address
// when it names one literally. Names are checked again at every connect (safe-post.ts),
// since DNS can change after the endpoint was saved.
import net from "node:net";
import { isInternalAddress } from "../net/internal-address.ts";
import { AppError } from "../errors.ts";

export function checkWebhookUrl(text: string, allowPrivate: boolean, field = "url"): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AppError("validation_error", `${field}: "${text.slice(0, 100)}" is not a URL; give e.g. https://app.example/hooks/hikyaku.`, { field });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new AppError("validation_error", `${field}: use an https:// (or http://) URL, not ${url.protocol}.`, { field });
  }
  if (url.username || url.password) {
    throw new AppError("validation_error", `${field}: leave credentials out of the URL; verify the webhook-signature header instead.`, { field });
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (net.isIP(host) && !allowPrivate && isInternalAddress(host)) {
    throw new AppError(
      "validation_error",
      `${field}: ${host} is an internal address (loopback, private or link-local); webhooks go only to public addresses.`,
      { field },
    );
  }
  if (url.hash) url.hash = "";
  return url.toString();
}
