// Fluent Bit's classic configuration format, written deterministically: sections of ordered
// key/value lines (keys may repeat, e.g. `Add` in a modify filter or `Regex` in grep).
export type Section = { name: string; entries: [string, string | number][] };

export function fluentBitConfig(sections: readonly Section[]): string {
  return sections
    .map((s) => {
      const width = Math.max(...s.entries.map(([k]) => k.length));
      return [`[${s.name}]`, ...s.entries.map(([k, v]) => `    ${k.padEnd(width)} ${v}`)].join('\n');
    })
    .join('\n\n')
    .concat('\n');
}
