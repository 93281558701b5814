// Compile-time assertions for the fixtures. Fixtures are only type-checked, never run.

/** `true` only for `any`: `1 & T` collapses to `any` for nothing else. */
export type IsAny<T> = 0 extends 1 & T ? true : false;

/**
 * Fails to compile when `value` is `any`. Used on contextually typed listener parameters: if our
 * declarations lost an event overload, the listener would silently fall back to `any` and every
 * later assignment in the fixture would still compile.
 */
export function notAny<T>(value: T, ..._typed: IsAny<T> extends true ? [typedParameterExpected: never] : []): T {
  return value;
}

/** Compile-time "this value is assignable to T", without declaring a throwaway variable. */
export function expectType<T>(_value: T): void {}

/** Compile-time exact equality; for types where both declarations must agree exactly. */
export type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export function expectTrue<T extends true>(): void {}
