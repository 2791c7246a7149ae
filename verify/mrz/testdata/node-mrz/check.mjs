// Reads one JSON object a line on stdin ({"id": ..., "lines": [...]}) and
// prints, for each, what the npm mrz package makes of it: the format, the
// fields and each field's validity. Used by verify/mrz/interop_test.go.
import { createInterface } from 'node:readline';
import { parse } from 'mrz';

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  const { id, lines } = JSON.parse(line);
  let out;
  try {
    const r = parse(lines);
    out = {
      id,
      format: r.format,
      valid: r.valid,
      fields: r.fields,
      details: r.details.map((d) => ({ field: d.field, valid: d.valid, error: d.error ?? null })),
    };
  } catch (e) {
    out = { id, error: String(e && e.message) };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
