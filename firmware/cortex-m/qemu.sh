#!/usr/bin/env bash
# Cargo runner: runs a firmware ELF on a QEMU board and decodes its defmt log.
#   qemu.sh <machine> <elf>
# -icount shift=0: one instruction = 1 ns of virtual time, so SysTick counts instructions
# deterministically. The exit status is the firmware's (semihosting exit).
set -u
machine=$1
elf=$2
qemu-system-arm -M "$machine" -nographic -monitor none -serial none \
    -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf" |
    defmt-print -e "$elf"
status=("${PIPESTATUS[@]}")
[ "${status[1]}" = 0 ] || exit "${status[1]}"
exit "${status[0]}"
