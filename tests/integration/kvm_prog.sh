# A C test program on real KVM, under the VM lock (lib.sh): $1 vmm, $2 the
# stress kernel, $3 the program, then its arguments.
. "$(dirname "$0")/lib.sh"
need_kvm
shift 2
"$@"
exit $?
