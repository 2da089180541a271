/** Cookie chunking as next-auth does it: `name`, or `name.0`, `name.1`, … */
import { describe, expect, it } from 'vitest'
import { readChunkedCookie, splitIntoChunks, staleChunkNames } from '../lib/session/cookie-chunks'

const NAME = 'next-auth.session-token'

describe('cookie chunks', () => {
  it('reads a whole cookie before any chunks of the same name', () => {
    expect(
      readChunkedCookie(
        [
          { name: `${NAME}.0`, value: 'x' },
          { name: NAME, value: 'whole' },
        ],
        NAME,
      ),
    ).toEqual({ value: 'whole', names: [NAME] })
  })

  it('joins chunks in index order whatever order they arrive in', () => {
    const cookies = [
      { name: `${NAME}.1`, value: 'b' },
      { name: `${NAME}.0`, value: 'a' },
      { name: `${NAME}.2`, value: 'c' },
    ]
    expect(readChunkedCookie(cookies, NAME)).toEqual({ value: 'abc', names: [`${NAME}.0`, `${NAME}.1`, `${NAME}.2`] })
  })

  it('regression: a chunk sequence with a gap is not joined (getToken joins it into garbage)', () => {
    expect(
      readChunkedCookie(
        [
          { name: `${NAME}.0`, value: 'a' },
          { name: `${NAME}.2`, value: 'c' },
        ],
        NAME,
      ),
    ).toBeNull()
  })

  it('ignores look-alike names: leading zeros, signs, other suffixes, other cookies', () => {
    const cookies = ['.00', '.-1', '.1a', '.01', 'x', '.99999'].map((suffix) => ({ name: `${NAME}${suffix}`, value: 'v' }))
    expect(readChunkedCookie(cookies, NAME)).toBeNull()
    expect(readChunkedCookie([], NAME)).toBeNull()
  })

  it('splits at the chunk size and round-trips', () => {
    const value = 'x'.repeat(10)
    expect(splitIntoChunks(NAME, value, 10)).toEqual([{ name: NAME, value }])
    const parts = splitIntoChunks(NAME, 'abcdefg', 3)
    expect(parts).toEqual([
      { name: `${NAME}.0`, value: 'abc' },
      { name: `${NAME}.1`, value: 'def' },
      { name: `${NAME}.2`, value: 'g' },
    ])
    expect(readChunkedCookie(parts, NAME)?.value).toBe('abcdefg')
  })

  it('names every chunk (and the whole cookie) the new write leaves behind', () => {
    const sent = [
      { name: NAME, value: 'old' },
      { name: `${NAME}.0`, value: 'a' },
      { name: `${NAME}.1`, value: 'b' },
      { name: 'other', value: 'keep' },
    ]
    expect(staleChunkNames(sent, NAME, [{ name: `${NAME}.0`, value: 'new' }])).toEqual([NAME, `${NAME}.1`])
  })
})
