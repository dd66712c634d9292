test-qemu:
