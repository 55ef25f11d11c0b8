"""Flash wear of the journal and the outbox, measured on MicroPython's own littlefs2.

The unix port has os.VfsLfs2, the same extmod code and defaults as the ESP32 build
(4096-byte blocks, 32-byte read/prog, cache 128, block_cycles 100). A RAM block device
counts block erases while the real modules write: checkpoints of 10 charging ports, and
outbox put+ack pairs. The figures back the flash-life statement in firmware/store/journal.py.
"""

import os

from mpy import run_script

MEASURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "device", "flash_wear.py")

YEAR_DAYS = 365.25
CYCLES = 100000  # erase cycles per 4 KiB block (NOR flash of ESP32 modules)
SPREAD = 1.25  # most-worn / mean block erases, measured over 30 000 writes on 128 blocks


def _life_years(free_blocks, checkpoint_s, j_erase, o_erase):
    # 10 ports charging around the clock; 60 sessions/day with 6 state saves each; outbox
    # 4 appends per session + 50 alarms x 2 + compactions: about 350 appends a day.
    journal_writes = 10 * 86400 // checkpoint_s + 60 * 6
    erases_day = journal_writes * j_erase + 350 * o_erase
    return free_blocks * CYCLES / (erases_day * SPREAD) / YEAR_DAYS


def test_flash_life_is_ten_years_and_more_at_the_documented_rates():
    out = run_script(MEASURE, args=("150", "150"), heapsize="4M")
    lines = {ln.split()[0]: [int(v) for v in ln.split()[1:]] for ln in out.splitlines()}
    j_writes, j_erases, j_bytes = lines["J"]
    o_writes, o_erases = lines["O"]
    j_erase = j_erases / j_writes
    o_erase = o_erases / o_writes
    print("journal: %d B/write, %.3f erases/write; outbox: %.3f erases/append"
          % (j_bytes, j_erase, o_erase))
    # a record above the 128-byte inline limit takes a fresh block each write, plus the
    # directory's metadata compactions: firmware/store/journal.py states 1.07
    assert 1.0 <= j_erase <= 1.1
    assert 1.0 <= o_erase <= 1.1
    assert 300 <= j_bytes <= 400
    life_4m = _life_years(920, 60, j_erase, o_erase)
    life_2m = _life_years(410, 60, j_erase, o_erase)
    life_2m_120 = _life_years(410, 120, j_erase, o_erase)
    print("life: 4 MiB %.1f y, 2 MiB %.1f y, 2 MiB at 120 s %.1f y"
          % (life_4m, life_2m, life_2m_120))
    assert life_4m >= 10
    assert life_2m < 10 <= life_2m_120  # why the docstring asks 120 s on a 2 MiB partition
