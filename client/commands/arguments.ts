import { InvalidArgumentError } from 'commander';

const ENVIRONMENT_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/** Commander parser for environment names: lowercase letters, digits and dashes, starting with a letter. */
export function environmentName(value: string): string {
  if (!ENVIRONMENT_NAME.test(value)) throw new InvalidArgumentError('an environment name: lowercase letters, digits and dashes, starting with a letter (e.g. staging)');
  return value;
}
