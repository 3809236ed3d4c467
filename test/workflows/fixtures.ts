/** The environment catalog and revisions the workflow tests run against. */
import type { CatalogInput } from '../../domain/index.ts';

const sha = (prefix: string): string => prefix.padEnd(40, '0');

/** Full commit SHAs used by the tests; `main` is what the branch `main` resolves to. */
export const REV = {
  main: sha('3f2c1a9'),
  v1: sha('1a1a1a1'),
  v2: sha('2b2b2b2'),
  v3: sha('3c3c3c3'),
} as const;

/** Refs the `resolveRevision` double knows (branch/tag/short SHA → commit). */
export const REFS: Readonly<Record<string, string>> = {
  main: REV.main,
  'v1.0.0': REV.v1,
  'v2.0.0': REV.v2,
  '2b2b2b2': REV.v2,
};

/**
 * dev: direct delivery, static credentials, not protected. staging: Argo CD delivery. production: direct,
 * sts credentials, protected with three approvers.
 */
export function catalogDocument(): CatalogInput {
  return {
    apiVersion: 'logstack.io/v1',
    kind: 'EnvironmentCatalog',
    promotionOrder: ['dev', 'staging', 'production'],
    gitops: { remote: 'file:///srv/gitops.git', branch: 'main' },
    environments: [
      {
        name: 'dev',
        cluster: { context: 'dev' },
        aws: {
          region: 'eu-west-1',
          bucket: 'logstack-dev-loki',
          secretName: 'logstack/dev/loki',
          credentialMode: 'static',
        },
        overlay: 'gitops/overlays/dev',
        delivery: 'direct',
        loki: { size: '1x.demo' },
        gates: ['external-secrets-synced', 'lokistack-ready'],
        approvers: ['alice'],
        retentionDays: 7,
      },
      {
        name: 'staging',
        cluster: { context: 'staging' },
        aws: {
          region: 'eu-west-1',
          bucket: 'logstack-staging-loki',
          secretName: 'logstack/staging/loki',
          credentialMode: 'static',
        },
        overlay: 'gitops/overlays/staging',
        delivery: 'argocd',
        argocd: { application: 'logging-staging' },
        loki: { size: '1x.extra-small' },
        gates: ['argocd-app-at-revision', 'operators-succeeded', 'lokistack-ready', 'log-forwarder-ready'],
        retentionDays: 14,
      },
      {
        name: 'production',
        cluster: { context: 'production', oidcIssuer: 'oidc.example.com/production' },
        aws: {
          region: 'eu-central-1',
          bucket: 'logstack-production-loki',
          secretName: 'logstack/production/loki',
          credentialMode: 'sts',
        },
        overlay: 'gitops/overlays/production',
        delivery: 'direct',
        loki: { size: '1x.small' },
        gates: ['external-secrets-synced', 'operators-succeeded', 'lokistack-ready', 'log-forwarder-ready'],
        protected: true,
        approvers: ['alice', 'bob', 'carol'],
        retentionDays: 30,
      },
    ],
  };
}
