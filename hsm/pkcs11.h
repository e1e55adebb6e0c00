// The one place hsm/ includes the PKCS#11 C header (p11-kit's copy: the v2.40
// errata layout, whose CK_GCM_PARAMS carries ulIvBits as SoftHSM 2.6 expects).
// Nothing outside hsm/ includes this file: CK_RV never leaves hsm/.
#pragma once

#include <p11-kit/pkcs11.h>
