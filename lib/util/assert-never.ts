/**
 * The `default:` of an exhaustive `switch`: the compiler rejects the call when a case is missing,
 * so a new result kind cannot be forgotten; at run time it only throws for a value no type allows.
 */
export function assertNever(value: never): never {
  throw new Error(`unhandled case ${JSON.stringify(value)}`)
}
