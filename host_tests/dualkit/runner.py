# Runs the test_* functions of one dual test module on MicroPython; prints one line each.
import sys

name = sys.argv[1]
mod = __import__(name)
failed = 0
ran = 0
for attr in sorted(dir(mod)):
    if not attr.startswith("test_"):
        continue
    fn = getattr(mod, attr)
    ran += 1
    try:
        fn()
        print("PASS", attr)
    except Exception as e:  # report and go on: one line per test
        failed += 1
        print("FAIL", attr, repr(e))
        sys.print_exception(e)
print("RAN", ran, "FAILED", failed)
