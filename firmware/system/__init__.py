# Boot and configuration: the config schema and validation, the boot guard (reset
# causes, crash loops), safe mode, the wall clock.
