// A wait with a limit: for shutdown steps that must not spend the whole budget on one part.

/** Waits for `work` (its result or failure), but at most `ms`; true when it ended in time. */
export async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  const done = await Promise.race([
    work.then(
      () => true,
      () => true,
    ),
    late,
  ]);
  clearTimeout(timer);
  return done;
}
