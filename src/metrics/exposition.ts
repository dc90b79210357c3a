/**
 * A parser for the Prometheus text exposition format (0.0.4), enough for vLLM's /metrics and the
 * simulator's: samples with labels, escaped label values, comments skipped, NaN/Inf values.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

function parseValue(text: string): number {
  switch (text) {
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    case 'NaN':
      return NaN;
    default:
      return Number(text);
  }
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === ',') i++;
    if (i >= text.length) break;
    const name = NAME.exec(text.slice(i))?.[0];
    if (!name || text[i + name.length] !== '=' || text[i + name.length + 1] !== '"') {
      throw new Error(`malformed labels in "${line}"`);
    }
    i += name.length + 2;
    let value = '';
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') {
        const next = text[i + 1];
        value += next === 'n' ? '\n' : (next ?? '');
        i += 2;
      } else value += text[i++];
    }
    if (text[i] !== '"') throw new Error(`unterminated label value in "${line}"`);
    i++;
    labels[name] = value;
  }
  return labels;
}

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const name = NAME.exec(line)?.[0];
    if (!name) throw new Error(`malformed sample "${line}"`);
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      // Label values may contain "}", so find the closing brace outside quotes.
      let inQuotes = false;
      let end = -1;
      for (let i = 1; i < rest.length; i++) {
        const c = rest[i];
        if (c === '\\' && inQuotes) i++;
        else if (c === '"') inQuotes = !inQuotes;
        else if (c === '}' && !inQuotes) {
          end = i;
          break;
        }
      }
      if (end < 0) throw new Error(`unterminated labels in "${line}"`);
      labels = parseLabels(rest.slice(1, end), line);
      rest = rest.slice(end + 1);
    }
    const [valueText] = rest.trim().split(/\s+/);
    if (valueText === undefined || valueText === '') throw new Error(`sample without value "${line}"`);
    samples.push({ name, labels, value: parseValue(valueText) });
  }
  return samples;
}

/**
 * The sum of a metric over its series. Counters are accepted with or without the `_total` suffix (vLLM's
 * Python client appends it; the simulator does not); `_created` series are never summed.
 */
export function metricSum(samples: readonly Sample[], name: string): number | undefined {
  const base = name.endsWith('_total') ? name.slice(0, -'_total'.length) : name;
  let sum: number | undefined;
  for (const s of samples) {
    if (s.name === base || s.name === `${base}_total`) sum = (sum ?? 0) + s.value;
  }
  return sum;
}

/**
 * metricSum over the exposition text itself, without parsing every sample: only the lines of `name` (or
 * `name_total`) are read. For a scrape loop that wants a few gauges out of a large /metrics page. Lines of
 * other metrics are not checked, so a malformed one elsewhere is ignored rather than thrown.
 */
export function metricSumInText(text: string, name: string): number | undefined {
  const base = name.endsWith('_total') ? name.slice(0, -'_total'.length) : name;
  let sum: number | undefined;
  let at = 0;
  while ((at = text.indexOf(base, at)) !== -1) {
    const start = at;
    at += base.length;
    // A sample line starts with its name (comment lines start with '#').
    if (start > 0 && text.charCodeAt(start - 1) !== 0x0a) continue;
    let i = at;
    if (text.startsWith('_total', i)) i += '_total'.length;
    const c = text.charCodeAt(i);
    if (c === 0x7b) {
      // Skip the labels: a "}" inside a quoted value does not close them.
      let inQuotes = false;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c && inQuotes) i++;
        else if (d === 0x22) inQuotes = !inQuotes;
        else if (d === 0x7d && !inQuotes) break;
        else if (d === 0x0a) break;
      }
      if (text.charCodeAt(i) !== 0x7d) continue;
      i++;
    } else if (c !== 0x20 && c !== 0x09) continue; // another metric whose name starts alike
    while (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x09) i++;
    let end = i;
    while (end < text.length) {
      const d = text.charCodeAt(end);
      if (d === 0x20 || d === 0x09 || d === 0x0a || d === 0x0d) break;
      end++;
    }
    if (end === i) continue;
    sum = (sum ?? 0) + parseValue(text.slice(i, end));
    at = end;
  }
  return sum;
}
