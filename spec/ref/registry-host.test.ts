import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DOCKER_HUB_CONFIG_KEY, normalizeRegistry, parseRef, registryHost } from '../../lib/ref/index.ts';

test('Docker Hub is served from registry-1.docker.io; other registries from their own name', () => {
  assert.equal(registryHost(parseRef('nginx').registry), 'registry-1.docker.io');
  assert.equal(registryHost('docker.io'), 'registry-1.docker.io');
  assert.equal(registryHost('ghcr.io'), 'ghcr.io');
  assert.equal(registryHost('127.0.0.1:5000'), '127.0.0.1:5000');
});

test('every spelling of a registry in docker config files normalizes to the reference form', () => {
  assert.equal(normalizeRegistry(DOCKER_HUB_CONFIG_KEY), 'docker.io');
  assert.equal(normalizeRegistry('index.docker.io'), 'docker.io');
  assert.equal(normalizeRegistry('registry-1.docker.io'), 'docker.io');
  assert.equal(normalizeRegistry('https://Registry.Example:5000/v2/'), 'registry.example:5000');
  assert.equal(normalizeRegistry('http://127.0.0.1:5000'), '127.0.0.1:5000');
  assert.equal(normalizeRegistry('ghcr.io'), 'ghcr.io');
});
