"""The support inbox: conversations with LINE friends, the FAQ bot, and staff replies.

Owns: conversations and messages (models), FAQ entries, saved replies, internal notes.
Others may call `services.request_priority_support` (the LIFF "priority support" button) and
`bot.answer` (after an incoming LINE message is stored). `matching` is pure and has no
database: the FAQ matcher that benchmarks and tests call directly.
"""
