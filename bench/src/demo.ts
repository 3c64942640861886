/** Provisional `npm run demo`: a short tour of the tensor engine (replaced by the toy-example experiment). */
import * as T from '@oclt/tensor';

const gen = new T.Generator(0);
const x = T.randn([2, 3], gen);
console.log('x =', x.toString());
console.log('x.T (a view, no copy) =', x.T.toString());
console.log('softmax(x, axis 1) =', x.softmax(1).toString());
console.log('x @ x.T =', x.matmul(x.T).toString());
const img = T.randn([1, 1, 5, 5], gen);
const kernel = T.ones([1, 1, 3, 3]).div(9);
console.log('3x3 box blur of a 5x5 image =', T.conv2d(img, kernel, null, { padding: 1 }).toString());
