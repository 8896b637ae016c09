/**
 * CLI commands a plugin contributes (storage-local's `recordings list|show`, the generator's `generate`).
 * Declarative, so the plugin API does not depend on the CLI library; the core turns each into a command.
 */

export interface CommandArgumentSpec {
  /** 'id', or 'files...' for a variadic argument. */
  name: string;
  description: string;
  /** Default true. */
  required?: boolean;
}

export interface CommandOptionSpec {
  /** As commander writes them: '--limit <n>', '-c, --config <file>', '--json'. */
  flags: string;
  description: string;
  default?: string | number | boolean | readonly string[];
  /** Allowed values. */
  choices?: readonly string[];
  /** Turns the text into the option's value; throws a TaplineError(USAGE) naming the problem. */
  parse?: (value: string) => unknown;
  required?: boolean;
}

export interface CommandSpec {
  /** Words of the command line: 'recordings list' (a group 'recordings' is created), 'generate'. */
  name: string;
  description: string;
  /** Longer help shown by --help after the options. */
  help?: string;
  arguments?: readonly CommandArgumentSpec[];
  options?: readonly CommandOptionSpec[];
  /** `args` in declaration order (a variadic one as an array); `options` by camel-cased long name. Sets process.exitCode on failure or throws. */
  run(args: ReadonlyArray<string | string[] | undefined>, options: Readonly<Record<string, unknown>>): void | Promise<void>;
}
