// A Kayle ID webhook receiver written the way upstream's documentation
// tells customers to write one: the signature checked with node:crypto
// (HMAC-SHA256 keyed with the whole whsec_ secret over `${t}.${rawBody}`,
// timingSafeEqual, |now - t| <= 300 s), the body decrypted with the jose
// package's compactDecrypt and the private JWK, refusing anything but
// RSA-OAEP-256 / A256GCM.
//
// Usage: node receiver.mjs [port]
//   PORT              port on 127.0.0.1 (argv[2] wins; 0 picks one)
//   WEBHOOK_SECRET    the endpoint's signing secret
//   PRIVATE_JWK_FILE  path of the private RSA JWK
//   RESPONSE_STATUS   status to answer a good delivery with (default 200)
// Prints "listening <port>", then one JSON line per request:
// {"delivery_id","event","kid","content_type","plaintext"} when accepted,
// {"delivery_id","rejected":"<why>"} when answered 400.
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { compactDecrypt, importJWK } from "jose";

const secret = process.env.WEBHOOK_SECRET ?? "";
const jwk = JSON.parse(readFileSync(process.env.PRIVATE_JWK_FILE, "utf8"));
const privateKey = await importJWK(jwk, "RSA-OAEP-256");
const status = Number(process.env.RESPONSE_STATUS ?? "200");
const toleranceSeconds = 300;

function verifySignature(header, rawBody) {
  const parts = Object.fromEntries(
    (header ?? "").split(",").map((p) => {
      const i = p.indexOf("=");
      return [p.slice(0, i), p.slice(i + 1)];
    }),
  );
  const t = parts.t;
  const v1 = parts.v1;
  if (!t || !v1) return "malformed";
  const expected = createHmac("sha256", secret).update(`${t}.${rawBody}`).digest("hex");
  const a = Buffer.from(expected, "utf8");
  const b = Buffer.from(v1, "utf8");
  if (a.length !== b.length || !timingSafeEqual(a, b)) return "mismatch";
  if (Math.abs(Math.floor(Date.now() / 1000) - Number(t)) > toleranceSeconds) return "stale";
  return null;
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    const rawBody = Buffer.concat(chunks).toString("utf8");
    const deliveryId = req.headers["x-kayle-delivery-id"] ?? null;
    const why = verifySignature(req.headers["x-kayle-signature"], rawBody);
    if (why) {
      console.log(JSON.stringify({ delivery_id: deliveryId, rejected: why }));
      res.writeHead(400).end();
      return;
    }
    try {
      const { plaintext, protectedHeader } = await compactDecrypt(rawBody, privateKey, {
        keyManagementAlgorithms: ["RSA-OAEP-256"],
        contentEncryptionAlgorithms: ["A256GCM"],
      });
      console.log(
        JSON.stringify({
          delivery_id: deliveryId,
          event: req.headers["x-kayle-event"] ?? null,
          kid: protectedHeader.kid ?? null,
          content_type: req.headers["content-type"] ?? null,
          plaintext: new TextDecoder().decode(plaintext),
        }),
      );
      res.writeHead(status).end();
    } catch (e) {
      console.log(JSON.stringify({ delivery_id: deliveryId, rejected: `decrypt: ${e.code ?? e.message}` }));
      res.writeHead(400).end();
    }
  });
});

server.listen(Number(process.argv[2] ?? process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(`listening ${server.address().port}`);
});
