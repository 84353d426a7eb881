"""番号制度: 個人番号 and 法人番号 issuance, 符号 and ID conversion, card-based 本人確認 (identity context).

See ``docs/identity.md``. The 個人番号 never leaves this context towards organisations: linkage uses a random
internal person key inside the base and per-organisation 符号 outside it.
"""
