// Signs with BouncyCastle's ISO9796d2Signer (ISO/IEC 9796-2 scheme 1), an
// implementation nobody on this project wrote, for activeauth's tests.
// Input, one request a line: DIGEST IMPLICIT(true|false) N_HEX D_HEX MSG_HEX.
// Output, one line each: the signature in hex.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.math.BigInteger;
import org.bouncycastle.crypto.Digest;
import org.bouncycastle.crypto.digests.SHA1Digest;
import org.bouncycastle.crypto.digests.SHA224Digest;
import org.bouncycastle.crypto.digests.SHA256Digest;
import org.bouncycastle.crypto.digests.SHA384Digest;
import org.bouncycastle.crypto.digests.SHA512Digest;
import org.bouncycastle.crypto.digests.SHA512tDigest;
import org.bouncycastle.crypto.engines.RSAEngine;
import org.bouncycastle.crypto.params.RSAKeyParameters;
import org.bouncycastle.crypto.signers.ISO9796d2Signer;
import org.bouncycastle.util.encoders.Hex;

public class AASign {
    static Digest digest(String name) {
        switch (name) {
            case "SHA-1": return new SHA1Digest();
            case "SHA-224": return new SHA224Digest();
            case "SHA-256": return new SHA256Digest();
            case "SHA-384": return new SHA384Digest();
            case "SHA-512": return new SHA512Digest();
            case "SHA-512/224": return new SHA512tDigest(224);
            case "SHA-512/256": return new SHA512tDigest(256);
        }
        throw new IllegalArgumentException(name);
    }

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.trim().split(" ");
            ISO9796d2Signer s = new ISO9796d2Signer(new RSAEngine(), digest(f[0]), Boolean.parseBoolean(f[1]));
            s.init(true, new RSAKeyParameters(true, new BigInteger(f[2], 16), new BigInteger(f[3], 16)));
            byte[] msg = Hex.decode(f[4]);
            s.update(msg, 0, msg.length);
            System.out.println(Hex.toHexString(s.generateSignature()));
        }
    }
}
