/** Configuration problems, reported all at once and one per line, so one start fixes them all. */

/** The variables a resolver reads (`process.env`, or a test's own record). */
export type Env = Readonly<Record<string, string | undefined>>;

/** One wrong value: where it came from (variable, flag or profile key), the value, and what is expected. */
export interface Problem {
  readonly key: string;
  /** The value given; `undefined` when unset. */
  readonly value: string | undefined;
  readonly expected: string;
  /** The default that was used when the key was unset. */
  readonly defaulted?: string;
}

/** One line per problem: `- KEY="value": expected`. */
export function describeProblem(problem: Problem): string {
  const value = problem.value !== undefined ? `=${JSON.stringify(problem.value)}` : problem.defaulted !== undefined ? ` (unset; default ${JSON.stringify(problem.defaulted)})` : ' (unset)';
  return `- ${problem.key}${value}: ${problem.expected}`;
}

/**
 * Thrown by the configuration resolvers before anything connects or starts. Its message lists every
 * problem, one per line, then the variables that configure the program with what each means.
 */
export class ConfigError extends Error {
  readonly problems: readonly Problem[];

  constructor(problems: readonly Problem[], variables: Readonly<Record<string, string>>) {
    const list = Object.entries(variables)
      .map(([name, meaning]) => `  ${name}  ${meaning}`)
      .join('\n');
    super(`invalid configuration; fix these values:\n${problems.map((p) => `  ${describeProblem(p)}`).join('\n')}\nVariables:\n${list}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
