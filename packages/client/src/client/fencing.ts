/**
 * Orders two fencing numbers (`permit.fencingSeq`): negative when `a` was granted before `b`, 0 when
 * they are the same grant, positive when `a` came later. They are decimal strings of up to 19 digits,
 * past the integers a JavaScript number holds exactly, so they are compared as BigInts. Numbers of
 * different slots of one resource are not comparable.
 */
export function compareFencingSeq(a: string, b: string): number {
  const difference = BigInt(a) - BigInt(b);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}
