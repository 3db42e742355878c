/**
 * Digital Alchemy core builds an `Intl.RelativeTimeFormat` when its module is evaluated, for
 * one log line at teardown ("application terminated", how long it ran). The first such
 * formatter of a process loads ICU's data for it: about 12 ms of CPU here, paid by a one-shot
 * command before it starts borg. {@link deferRelativeTimeFormat} makes the formatters built
 * while a module loads real only when first used; {@link warmRelativeTimeFormat}, called while
 * borg runs, pays ICU's cost then, so that the teardown's formatter is cheap (about 0.1 ms).
 */

type RelativeTimeFormatArguments = ConstructorParameters<typeof Intl.RelativeTimeFormat>;

/** Build one real formatter of DA's locale (idempotent): the ICU data it loads is kept for later ones. */
export const warmRelativeTimeFormat = (() => {
  let warm = false;
  return () => {
    if (warm) return;
    warm = true;
    new Intl.RelativeTimeFormat("en", { numeric: "auto", style: "short" }).format(-1, "second");
  };
})();

/**
 * Run `load` (a dynamic import) with `Intl.RelativeTimeFormat` standing in for a class whose
 * objects build the real formatter on first use; the real class is back when `load` settles.
 * A formatter with bad arguments then throws on first use instead of when built.
 */
export async function deferRelativeTimeFormat<T>(load: () => Promise<T>): Promise<T> {
  const descriptor = Object.getOwnPropertyDescriptor(Intl, "RelativeTimeFormat");
  const Real = Intl.RelativeTimeFormat;
  if (descriptor === undefined || !descriptor.writable || !descriptor.configurable) return load();

  class DeferredRelativeTimeFormat {
    static supportedLocalesOf = Real.supportedLocalesOf.bind(Real);
    readonly #args: RelativeTimeFormatArguments;
    #real: Intl.RelativeTimeFormat | undefined;
    constructor(...args: RelativeTimeFormatArguments) {
      this.#args = args;
    }
    #formatter(): Intl.RelativeTimeFormat {
      this.#real ??= new Real(...this.#args);
      return this.#real;
    }
    format(value: number, unit: Intl.RelativeTimeFormatUnit): string {
      return this.#formatter().format(value, unit);
    }
    formatToParts(value: number, unit: Intl.RelativeTimeFormatUnit): Intl.RelativeTimeFormatPart[] {
      return this.#formatter().formatToParts(value, unit);
    }
    resolvedOptions(): Intl.ResolvedRelativeTimeFormatOptions {
      return this.#formatter().resolvedOptions();
    }
  }

  Object.defineProperty(Intl, "RelativeTimeFormat", { ...descriptor, value: DeferredRelativeTimeFormat });
  try {
    return await load();
  } finally {
    Object.defineProperty(Intl, "RelativeTimeFormat", descriptor);
  }
}
