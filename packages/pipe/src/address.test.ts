import { describe, expect, it } from 'vitest'
import { floodGroup, formatTcp, isLoopback, parseAddress } from './address.js'

describe('parseAddress()', () => {
  it('reads local names and tcp://host:port', () => {
    expect(parseAddress('jobs')).toEqual({ kind: 'local', name: 'jobs' })
    expect(parseAddress('tcp://127.0.0.1:0')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 0 })
    expect(parseAddress('tcp://example.org:6000')).toEqual({ kind: 'tcp', host: 'example.org', port: 6000 })
    expect(parseAddress('tcp://[::1]:80')).toEqual({ kind: 'tcp', host: '::1', port: 80 })
  })

  it('throws TypeError for anything else, echoing the address', () => {
    expect(() => parseAddress(42)).toThrow(/must be a string/)
    expect(() => parseAddress('tcp://host')).toThrow(
      'The address must be a local name or "tcp://host:port", received "tcp://host"',
    )
    expect(() => parseAddress('tcp://:80')).toThrow(TypeError)
    expect(() => parseAddress('tcp://h:99999')).toThrow(/port must be from 0 to 65535, received 99999/)
    expect(() => parseAddress('tcp://[nothex]:1')).toThrow(TypeError)
    expect(() => parseAddress('udp://h:1')).toThrow(/scheme is not supported/)
    expect(() => parseAddress('')).toThrow(/1 to 255 bytes in UTF-8, received 0/)
    // The limit counts UTF-8 bytes, not UTF-16 units: 128 "é" are 256 bytes.
    expect(parseAddress('é'.repeat(127))).toEqual({ kind: 'local', name: 'é'.repeat(127) })
    expect(() => parseAddress('é'.repeat(128))).toThrow(/received 256/)
    expect(() => parseAddress('a/b')).toThrow(/must not contain "\/"/)
    // 'a\uD800' and 'a\uDBFF' would both be 'a\uFFFD' in UTF-8: one socket for two names.
    expect(() => parseAddress('a\uD800')).toThrow(/must be well-formed Unicode \(no lone surrogate\)/)
  })
})

describe('formatTcp() and isLoopback()', () => {
  it('brackets IPv6 hosts', () => {
    expect(formatTcp('::1', 5)).toBe('tcp://[::1]:5')
    expect(formatTcp('127.0.0.1', 5)).toBe('tcp://127.0.0.1:5')
  })

  it('knows loopback hosts in every spelling, and nothing else', () => {
    for (const host of [
      '127.0.0.1',
      '127.255.0.9',
      '::1',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
      'localhost',
      'LocalHost',
    ])
      expect(isLoopback(host), host).toBe(true)
    for (const host of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '::ffff:10.0.0.1',
      '128.0.0.1',
      'example.org',
      'localhost.evil.org',
    ])
      expect(isLoopback(host), host).toBe(false)
  })
})

describe('floodGroup()', () => {
  it('groups an IPv4 address as itself (mapped or not) and an IPv6 address by its /64', () => {
    expect(floodGroup('203.0.113.7')).toBe('203.0.113.7')
    expect(floodGroup('::ffff:203.0.113.7')).toBe('203.0.113.7')
    expect(floodGroup('::FFFF:203.0.113.7')).toBe('203.0.113.7')
    // One host's /64: every address in it is one group.
    expect(floodGroup('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64')
    expect(floodGroup('2001:db8:1:2:ffff:ffff:ffff:fffe')).toBe('2001:db8:1:2::/64')
    expect(floodGroup('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64')
    expect(floodGroup('2001:0db8:0001:0002::')).toBe('2001:db8:1:2::/64')
    expect(floodGroup('::1')).toBe('0:0:0:0::/64')
    expect(floodGroup('2001:db8::1')).toBe('2001:db8:0:0::/64')
    // Link-local: every host of a link shares fe80::/64, so each address counts alone, with its zone.
    expect(floodGroup('fe80::1%eth0')).toBe('fe80::1%eth0')
    expect(floodGroup('fe80::abcd:1%wlan0')).toBe('fe80::abcd:1%wlan0')
    // IPv4 clients translated to IPv6 (NAT64, SIIT) count as their IPv4 address.
    expect(floodGroup('64:ff9b::102:304')).toBe('1.2.3.4')
    expect(floodGroup('64:ff9b::1.2.3.4')).toBe('1.2.3.4')
    expect(floodGroup('::ffff:0:102:304')).toBe('1.2.3.4')
    // Not an address (Node's '?' stand-in, garbage): itself, never a throw.
    expect(floodGroup('?')).toBe('?')
    expect(floodGroup('1:2:3')).toBe('1:2:3')
    expect(floodGroup('1::2::3')).toBe('1::2::3')
  })
})
