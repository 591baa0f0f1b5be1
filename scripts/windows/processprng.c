/*
 * bcryptprimitives.dll shim for wine 8.0.
 *
 * Every Rust >= 1.78 Windows executable imports ProcessPrng from
 * bcryptprimitives.dll; wine 8.0 does not ship that DLL, so such programs
 * fail to load. This one-function DLL forwards ProcessPrng to advapi32's
 * SystemFunction036 (RtlGenRandom). Built by scripts/windows/setup.sh and
 * copied into the wine prefix's system32. Test/dev use only.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x7fffffffUL ? 0x7fffffffUL : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
    (void)inst; (void)reason; (void)reserved;
    return TRUE;
}
