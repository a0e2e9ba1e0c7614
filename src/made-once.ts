// Values slow to make and quick to use (Intl's formats: tens of microseconds to make one), made
// once per key and kept for the life of the process. The keys are locales and time zones: few.

/** The value kept in `map` for `key`, made by `make` the first time it is asked for. */
export function madeOnce<V>(map: Map<string, V>, key: string, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}
