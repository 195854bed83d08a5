-- checksum.lua: the same algorithm, parameters and output as programs/checksum.s (32-bit
-- FNV-1a over a 64 KiB buffer of xorshift32 bytes, K passes chained).
local SIZE, K = 65536, 1000
local buf = {}
local s = 2463534242
for i = 1, SIZE do
  s = s ~ ((s << 13) & 0xffffffff)
  s = s ~ (s >> 17)
  s = s ~ ((s << 5) & 0xffffffff)
  buf[i] = s & 255
end
local h = 0x811c9dc5
for _ = 1, K do
  for i = 1, SIZE do
    h = ((h ~ buf[i]) * 16777619) & 0xffffffff
  end
end
io.write(string.format("fnv1a of %d x %d bytes: %d\n", K, SIZE, h))
