/** `--name N` from the command line as a number, or `def` when absent. */
export function numberArg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const n = Number(process.argv[i + 1]);
  if (!Number.isFinite(n)) throw new Error(`--${name} ${process.argv[i + 1]}: expected a number`);
  return n;
}
