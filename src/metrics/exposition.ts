// The Prometheus text exposition format (version 0.0.4), written by hand: a few counters,
// one histogram and gauges read at scrape time need no client library. test/metrics.test.ts
// parses the output with the Python prometheus_client parser.

export type Labels = Record<string, string>;

export interface Sample {
  /** Appended to the family name: `_bucket`, `_sum`, `_count` for histograms. */
  suffix?: string;
  labels?: Labels;
  value: number;
}

export interface Family {
  /** Base units and suffixes per the naming conventions: `_total` for counters, `_seconds`, `_bytes`. */
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  samples: Sample[];
}

export function encodeFamilies(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) out.push(`${f.name}${s.suffix ?? ""}${encodeLabels(s.labels)} ${encodeValue(s.value)}`);
  }
  return `${out.join("\n")}\n`;
}

function encodeLabels(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return "";
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`).join(",")}}`;
}

function encodeValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

/** A counter with a fixed set of label names, counting what this process did. */
export class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  /** `known`: label sets shown from the start, at 0, so that a rate over them never lacks its first sample. */
  constructor(
    readonly name: string,
    readonly help: string,
    known: Labels[] = [],
  ) {
    for (const labels of known) this.inc(labels, 0);
  }

  inc(labels: Labels, by = 1): void {
    const key = JSON.stringify(labels);
    const cur = this.values.get(key);
    if (cur) cur.value += by;
    else this.values.set(key, { labels, value: by });
  }

  family(): Family {
    return { name: this.name, help: this.help, type: "counter", samples: [...this.values.values()].map(({ labels, value }) => ({ labels, value })) };
  }
}

/** A histogram without labels: cumulative buckets (upper bounds in base units), sum and count. */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: number[],
  ) {
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (const [i, bound] of this.bounds.entries()) if (value <= bound) this.counts[i] = (this.counts[i] ?? 0) + 1;
  }

  family(): Family {
    const buckets = this.bounds.map((le, i) => ({ suffix: "_bucket", labels: { le: String(le) }, value: this.counts[i] ?? 0 }));
    return {
      name: this.name,
      help: this.help,
      type: "histogram",
      samples: [
        ...buckets,
        { suffix: "_bucket", labels: { le: "+Inf" }, value: this.count },
        { suffix: "_sum", value: this.sum },
        { suffix: "_count", value: this.count },
      ],
    };
  }
}
